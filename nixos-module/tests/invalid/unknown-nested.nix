# error: machines.web.forwardPorts[0]: unknown option(s) host_port
{
  machines.web.forwardPorts = [ { host_port = 80; } ];
}
