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
	rs, kts, err := a.planWithInstalled(m)
	if err != nil {
		return err
	}
	var systemd []SystemdPort
	for _, fam := range Families {
		systemd = append(systemd, kts[fam].systemdPorts...)
	}
	return CheckSystemd(rs, systemd)
}

// planWithInstalled plans m's forwards in place of its installed ones, next
// to every other machine's forwards as the kernel holds them, and refuses
// conflicts between them. It returns the kernel state it read, to reconcile
// against.
func (a *Applier) planWithInstalled(m Machine) (*Ruleset, [2]*kernelTable, error) {
	mine, err := Plan([]Machine{m})
	if err != nil {
		return nil, [2]*kernelTable{}, err
	}
	kts, err := a.read()
	if err != nil {
		return nil, kts, err
	}
	others := newRuleset()
	for _, fam := range Families {
		others.Tables[fam] = kts[fam].own
	}
	rs := others.Without(m.Name).merge(mine)
	if err := checkConflicts(rs); err != nil {
		return nil, kts, err
	}
	deriveLinks(rs) // the link sets of shared links from every member's records (protect.go)
	return rs, kts, nil
}
