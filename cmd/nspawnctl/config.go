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

// invalidWording words the error of a command whose configuration has
// errors (exit code 3), after the diagnostics are printed. Each command
// keeps its own wording, which says what it did not do; scripts and the
// documentation quote them.
type invalidWording func(src *config.Source) error

var (
	// nothingWritten is the wording of validate, render and doctor.
	nothingWritten invalidWording = func(src *config.Source) error {
		return fmt.Errorf("%d error(s) in the configuration; nothing was written", src.Errors())
	}
	// nothingCreated is create's wording.
	nothingCreated invalidWording = func(*config.Source) error {
		return errors.New("the configuration has errors; nothing was created")
	}
	// nothingChanged is the wording of plan and apply.
	nothingChanged invalidWording = func(*config.Source) error {
		return errors.New("the configuration has errors; nothing was changed")
	}
)

// readConfig reads the configuration in paths. When its files have errors
// it prints the diagnostics and returns an error with exitInvalid worded by
// invalid; other diagnostics (warnings) wait for resolveConfig, which
// prints them with validation's.
func (a *app) readConfig(paths []string, invalid invalidWording) (*config.Source, error) {
	src, err := config.Read(paths)
	if err != nil {
		return nil, withCode(exitInvalid, err)
	}
	if src.Diagnostics.HasErrors() {
		a.printDiagnostics(src)
		return nil, withCode(exitInvalid, invalid(src))
	}
	return src, nil
}

// resolveFunc validates a configuration against what a command knows of the
// host: resolve.Validate with the flags' facts, or Manager.Resolve with the
// state directory's allocations. Its error is one of reading the host, not
// of the configuration.
type resolveFunc func(*config.Config) (*resolve.Resolved, hcl.Diagnostics, error)

// validateWith is the resolveFunc of the commands that only read files.
func validateWith(facts resolve.HostFacts) resolveFunc {
	return func(cfg *config.Config) (*resolve.Resolved, hcl.Diagnostics, error) {
		r, diags := resolve.Validate(cfg, facts)
		return r, diags, nil
	}
}

// resolveConfig validates what readConfig read, prints every diagnostic of
// reading and validating it, and returns the resolved configuration; with
// errors it returns an error with exitInvalid worded by invalid instead.
func (a *app) resolveConfig(src *config.Source, resolveCfg resolveFunc, invalid invalidWording) (*resolve.Resolved, error) {
	r, diags, err := resolveCfg(src.Config)
	if err != nil {
		return nil, err
	}
	src.Add(diags)
	a.printDiagnostics(src)
	if src.Diagnostics.HasErrors() {
		return nil, withCode(exitInvalid, invalid(src))
	}
	return r, nil
}

// loadConfig reads, decodes and validates the configuration in paths with
// facts, for the commands that write nothing to the host (validate, render,
// doctor), printing diagnostics to stderr. A configuration with errors
// yields an error carrying exitInvalid and no Resolved.
func (a *app) loadConfig(paths []string, facts resolve.HostFacts) (*resolve.Resolved, error) {
	src, err := a.readConfig(paths, nothingWritten)
	if err != nil {
		return nil, err
	}
	return a.resolveConfig(src, validateWith(facts), nothingWritten)
}

// printDiagnostics writes diagnostics with source snippets, in colour only
// when stderr is a terminal.
func (a *app) printDiagnostics(src *config.Source) {
	if len(src.Diagnostics) == 0 {
		return
	}
	color, width := false, 100
	if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		color = true
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 20 {
			width = w
		}
	}
	w := hcl.NewDiagnosticTextWriter(a.stderr, src.Parsed(), uint(width), color)
	// Loading and validation each sort theirs; together they are sorted
	// again, so the user reads them in source order.
	diags := append(hcl.Diagnostics(nil), src.Diagnostics...)
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
