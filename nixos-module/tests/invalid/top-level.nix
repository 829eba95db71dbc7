# error: unknown top-level option(s) machine
{
  machine.web = { };
}
