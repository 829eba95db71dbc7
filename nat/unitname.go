package nat

// RestoreUnitName is the unit RestoreUnit renders; it is installed with the
// first machine that needs io.systemd.nat (forwards or outbound NAT) and
// removed with the last.
const RestoreUnitName = "nspawnctl-nat-restore.service"
