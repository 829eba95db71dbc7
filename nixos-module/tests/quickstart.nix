# examples/quickstart.hcl as services.nspawnctl options: a Debian container
# bootstrapped with nginx, port 8181 on the host forwarded to its port 80.
{
  machines.web = {
    root.bootstrap = {
      suite = "bookworm";
      packages = [ "nginx-light" ];
    };
    forwardPorts = [
      { hostPort = 8181; containerPort = 80; }
    ];
  };
}
