# error: machines.web: set timeoutStart or its alias timeoutStartSec, not both
{
  machines.web = {
    timeoutStart = "1min";
    timeoutStartSec = "2min";
  };
}
