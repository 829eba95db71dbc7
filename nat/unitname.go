package nat

// RestoreUnitName is the unit RestoreUnit renders; it is installed with the
// first machine that has forwards and removed with the last.
const RestoreUnitName = "nspawnctl-nat-restore.service"
