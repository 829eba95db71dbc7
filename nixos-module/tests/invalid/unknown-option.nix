# error: machines.web: unknown option(s) forwardPort
{
  machines.web.forwardPort = [ { hostPort = 80; } ];
}
