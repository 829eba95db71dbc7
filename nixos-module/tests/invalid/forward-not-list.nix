# error: machines.web.forwardPorts must be a list
{
  machines.web.forwardPorts = { hostPort = 80; };
}
