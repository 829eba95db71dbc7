# error: machines.web: zone is set twice
{
  machines.web = {
    zone = "a";
    network.zone = "b";
  };
}
