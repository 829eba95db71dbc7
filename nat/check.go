package nat

// CheckMachine reports what ApplyMachine(m) would refuse, without changing
// anything: a host port that another machine's installed forwards claim, a
// shared target address, or a port that systemd itself maps (nspawn's Port=).
// It is the container unit's ExecStartPre hook ("nspawnctl nat check"), so a
// conflict stops the start before the container runs: refused in
// ExecStartPost, after nspawn started the payload, a container whose init has
// not yet set up its signal handling ignores nspawn's halt and systemd waits
// for the stop timeout (90 s and more on systemd 257 and 262).
func (a *Applier) CheckMachine(m Machine) error {
	mine, err := Plan([]Machine{m})
	if err != nil {
		return err
	}
	kts, err := a.read()
	if err != nil {
		return err
	}
	rs := newRuleset()
	var systemd []SystemdPort
	for _, fam := range Families {
		rs.Tables[fam] = kts[fam].own
		systemd = append(systemd, kts[fam].systemdPorts...)
	}
	rs = rs.Without(m.Name).merge(mine)
	if err := checkConflicts(rs); err != nil {
		return err
	}
	return CheckSystemd(rs, systemd)
}
