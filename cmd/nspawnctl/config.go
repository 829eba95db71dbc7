package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/nspawnctl/nspawnctl/internal/diag"
	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/networkd"
)

// configFlags are the flags of every command that reads configuration.
type configFlags struct {
	machineIDFile string
	machineID     string
}

func (f *configFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.machineIDFile, "machine-id-file", "/etc/machine-id", "the host's machine id, from which the ULA prefix and container MACs are derived")
	cmd.Flags().StringVar(&f.machineID, "machine-id", "", "use this machine id (32 hex digits) instead of reading --machine-id-file")
}

// hostFacts gathers what resolution needs to know about the host.
func (f *configFlags) hostFacts() (resolve.HostFacts, error) {
	var facts resolve.HostFacts
	var err error
	switch {
	case f.machineID != "":
		facts.MachineID, err = networkd.ParseMachineID(f.machineID)
	default:
		facts.MachineID, err = networkd.ReadMachineID(f.machineIDFile)
	}
	if err != nil {
		return facts, fmt.Errorf("%w (pass --machine-id to use another one)", err)
	}
	return facts, nil
}

// errInvalid marks a configuration with errors; the diagnostics are printed already.
var errInvalid = errors.New("")

// loadConfig parses, decodes and validates the configuration in paths,
// printing diagnostics to stderr. A configuration with errors yields an
// error carrying exitInvalid and no Resolved.
func (a *app) loadConfig(paths []string, facts resolve.HostFacts) (*resolve.Resolved, error) {
	files, err := config.ExpandPaths(paths)
	if err != nil {
		return nil, withCode(exitInvalid, err)
	}
	p := config.NewParser()
	cfg, diags := p.Load(files)
	var resolved *resolve.Resolved
	if !diags.HasErrors() {
		var vd hcl.Diagnostics
		resolved, vd = resolve.Validate(cfg, facts)
		diags = append(diags, vd...)
	}
	a.printDiagnostics(p, diags)
	if diags.HasErrors() {
		return nil, withCode(exitInvalid, fmt.Errorf("%d error(s) in the configuration; nothing was written", countErrors(diags)))
	}
	return resolved, nil
}

func countErrors(diags hcl.Diagnostics) int {
	n := 0
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			n++
		}
	}
	return n
}

// printDiagnostics writes diagnostics with source snippets, in colour only
// when stderr is a terminal.
func (a *app) printDiagnostics(p *config.Parser, diags hcl.Diagnostics) {
	if len(diags) == 0 {
		return
	}
	color, width := false, 100
	if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		color = true
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 20 {
			width = w
		}
	}
	w := hcl.NewDiagnosticTextWriter(a.stderr, p.Files(), uint(width), color)
	// Loading and validation each sort theirs; together they are sorted
	// again, so the user reads them in source order.
	diags = append(hcl.Diagnostics(nil), diags...)
	diag.Sort(diags)
	for _, d := range diags {
		// A compiler-style first line (FILE:LINE:COL: error: SUMMARY) that
		// editors and CI logs link to, then HCL's snippet and detail.
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		if d.Subject != nil {
			fmt.Fprintf(a.stderr, "%s:%d:%d: %s: %s\n", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, sev, d.Summary)
		} else {
			fmt.Fprintf(a.stderr, "%s: %s\n", sev, d.Summary)
		}
		_ = w.WriteDiagnostic(d)
	}
}

// writeLine is fmt.Fprintln that ignores the error, for command output.
func writeLine(w io.Writer, args ...any) { _, _ = fmt.Fprintln(w, args...) }

func fsMode(m uint32) os.FileMode { return os.FileMode(m) }
