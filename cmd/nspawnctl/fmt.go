package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/spf13/cobra"

	"github.com/nspawnctl/nspawnctl/internal/atomicfile"
	"github.com/nspawnctl/nspawnctl/machine/config"
)

func init() { registerCommand(newFmtCmd) }

func newFmtCmd(a *app) *cobra.Command {
	var check bool
	cmd := &cobra.Command{
		Use:   "fmt [--check] FILE|DIR...",
		Short: "Rewrite configuration files in canonical format",
		Long: `fmt rewrites *.hcl files in HCL's canonical layout (aligned '=', two-space
indentation) and *.hcl.json files as indented JSON. With --check it changes nothing,
lists the files that are not formatted and exits 4 if there are any (for CI).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := config.ExpandPaths(args)
			if err != nil {
				return withCode(exitUsage, err)
			}
			var unformatted []string
			for _, f := range files {
				src, err := os.ReadFile(f)
				if err != nil {
					return fmt.Errorf("reading %s: %w", f, err)
				}
				out, err := formatConfig(f, src)
				if err != nil {
					return withCode(exitInvalid, err)
				}
				if bytes.Equal(src, out) {
					continue
				}
				unformatted = append(unformatted, f)
				if check {
					writeLine(a.stdout, f)
					continue
				}
				st, err := os.Stat(f)
				if err != nil {
					return err
				}
				if _, err := atomicfile.Write(f, out, st.Mode().Perm()); err != nil {
					return err
				}
				writeLine(a.stdout, f)
			}
			if check && len(unformatted) > 0 {
				return withCode(exitDiffers, fmt.Errorf("%d file(s) are not formatted; run nspawnctl fmt on them", len(unformatted)))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "only list files that are not formatted; exit 4 if any")
	return cmd
}

// formatConfig returns the canonical form of a configuration file. A file
// with syntax errors is refused rather than mangled.
func formatConfig(name string, src []byte) ([]byte, error) {
	if strings.HasSuffix(name, ".json") {
		var buf bytes.Buffer
		if err := json.Indent(&buf, bytes.TrimSpace(src), "", "  "); err != nil {
			return nil, fmt.Errorf("%s is not valid JSON: %w", name, err)
		}
		buf.WriteByte('\n')
		return buf.Bytes(), nil
	}
	if _, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos); diags.HasErrors() {
		return nil, fmt.Errorf("%s has syntax errors, not formatted: %s", name, diags.Error())
	}
	return hclwrite.Format(src), nil
}
