package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/nspawnctl/nspawnctl/internal/diag"
)

// Config is a decoded configuration: every file's blocks, merged, in file
// order. It has not been validated yet; see Validate.
type Config struct {
	Files    []string
	Defaults *Defaults
	Machines []*Machine
	Zones    []*Zone
	Bridges  []*Bridge
}

// IsConfigFile reports whether path names a file nspawnctl reads when it is
// given a directory: HCL (*.hcl) or HCL's JSON syntax (*.hcl.json).
func IsConfigFile(path string) bool {
	return strings.HasSuffix(path, ".hcl") || strings.HasSuffix(path, ".hcl.json")
}

// ExpandPaths turns the command line's files and directories into the list of
// configuration files, sorted within each directory so that merging is
// deterministic.
func ExpandPaths(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("configuration %s: %w", p, err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("configuration directory %s: %w", p, err)
		}
		var found []string
		for _, e := range entries {
			if !e.IsDir() && IsConfigFile(e.Name()) {
				found = append(found, filepath.Join(p, e.Name()))
			}
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("configuration directory %s holds no *.hcl or *.hcl.json file", p)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// Parser parses and decodes configuration files. It keeps the sources, so
// diagnostics can be printed with snippets.
type Parser struct {
	p *hclparse.Parser
}

// NewParser returns a Parser.
func NewParser() *Parser { return &Parser{p: hclparse.NewParser()} }

// Files returns the parsed files by name, for hcl.NewDiagnosticTextWriter.
func (p *Parser) Files() map[string]*hcl.File { return p.p.Files() }

// ParseSource parses one file's contents; the file name decides the syntax.
func (p *Parser) ParseSource(name string, src []byte) (*File, hcl.Diagnostics) {
	if diags := hugeNumbers(name, src); diags.HasErrors() {
		return nil, diags
	}
	var f *hcl.File
	var diags hcl.Diagnostics
	if strings.HasSuffix(name, ".json") {
		f, diags = p.p.ParseJSON(src, name)
	} else {
		f, diags = p.p.ParseHCL(src, name)
	}
	if diags.HasErrors() {
		return nil, asSentences(diags)
	}
	var out File
	diags = append(diags, decodeBody(f.Body, &out)...)
	if diags.HasErrors() {
		return nil, asSentences(diags)
	}
	return &out, asSentences(diags)
}

// asSentences makes the details of HCL's own diagnostics full sentences, as
// nspawnctl's are: a few of gohcl's (e.g. "Unsuitable value: a bool is
// required") lack the final full stop, and some have no detail at all.
func asSentences(diags hcl.Diagnostics) hcl.Diagnostics {
	for _, d := range diags {
		detail := strings.TrimSpace(d.Detail)
		if detail == "" {
			detail = d.Summary
		}
		if detail != "" && !strings.HasSuffix(detail, ".") && !strings.HasSuffix(detail, "?") && !strings.HasSuffix(detail, "!") {
			detail += "."
		}
		d.Detail = detail
	}
	return diags
}

// Load reads, parses and decodes the given files and merges them into one
// Config. It does not validate; call Validate on the result.
func (p *Parser) Load(files []string) (*Config, hcl.Diagnostics) {
	cfg := &Config{Files: files}
	var diags hcl.Diagnostics
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cannot read configuration file",
				Detail:   fmt.Sprintf("Reading %s failed: %v. Check the path and its permissions.", name, err),
			})
			continue
		}
		f, fd := p.ParseSource(name, src)
		diags = append(diags, fd...)
		if f == nil {
			continue
		}
		cfg.Merge(f, &diags)
	}
	diag.Sort(diags)
	return cfg, diags
}

// Merge adds one decoded file to the configuration, reporting blocks that
// may appear only once (defaults) or collide with earlier files.
func (c *Config) Merge(f *File, diags *hcl.Diagnostics) {
	if f.Defaults != nil {
		if c.Defaults != nil {
			*diags = append(*diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate defaults block",
				Detail:   fmt.Sprintf("A defaults block was already given at %s. Keep one defaults block for the whole configuration.", c.Defaults.DefRange),
				Subject:  f.Defaults.DefRange.Ptr(),
			})
		} else {
			c.Defaults = f.Defaults
		}
	}
	for i := range f.Machines {
		c.Machines = append(c.Machines, &f.Machines[i])
	}
	for i := range f.Zones {
		c.Zones = append(c.Zones, &f.Zones[i])
	}
	for i := range f.Bridges {
		c.Bridges = append(c.Bridges, &f.Bridges[i])
	}
}

// hugeNumbers reports number literals so large or so small that HCL's
// conversion of a number to a string (big.Float.Text) would take minutes and
// gigabytes: 1e100000000 is a valid number in both syntaxes, and gohcl turns
// numbers into strings for string attributes such as host_port. No setting
// needs a magnitude beyond 2^64 or below 2^-64, so those are refused before
// decoding.
func hugeNumbers(name string, src []byte) hcl.Diagnostics {
	if !mayHoldHugeNumber(src) {
		return nil
	}
	var diags hcl.Diagnostics
	check := func(lit string, rng hcl.Range) {
		// A literal of at most 19 characters without an exponent lies
		// between 1e-18 and 1e19, inside the bounds below: skipping the
		// big.Float parse of every port number halves this pass.
		if len(lit) <= 19 && !strings.ContainsAny(lit, "eE") {
			return
		}
		f, _, err := big.ParseFloat(lit, 10, 64, big.ToNearestEven)
		if err != nil || f.Sign() == 0 {
			return
		}
		if exp := f.MantExp(nil); exp > 64 || exp < -64 {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Number out of range",
				Detail:   fmt.Sprintf("The number %.40s has a magnitude no setting accepts; write a number between 1e-18 and 1e18.", lit),
				Subject:  rng.Ptr(),
			})
		}
	}
	if !strings.HasSuffix(name, ".json") {
		tokens, _ := hclsyntax.LexConfig(src, name, hcl.InitialPos)
		for _, t := range tokens {
			if t.Type == hclsyntax.TokenNumberLit {
				check(string(t.Bytes), t.Range)
			}
		}
		return diags
	}
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return diags // the JSON parser reports syntax errors with their ranges
		}
		if n, ok := tok.(json.Number); ok {
			end := int(dec.InputOffset())
			check(string(n), byteRange(name, src, end-len(n), end))
		}
	}
}

// mayHoldHugeNumber reports whether src could hold a number literal that
// hugeNumbers parses: one with an exponent, which has a digit or a point
// right before its e, or one longer than 19 characters, a run of 20 digits
// and points. Without either, lexing the file a second time (a third of
// loading 10,000 machines) cannot find one. Strings and identifiers can match
// too ("0e1f" in a hash); that costs only the full check.
func mayHoldHugeNumber(src []byte) bool {
	run := 0
	for _, c := range src {
		switch {
		case c >= '0' && c <= '9' || c == '.':
			run++
			if run > 19 {
				return true
			}
		case (c == 'e' || c == 'E') && run > 0:
			return true
		default:
			run = 0
		}
	}
	return false
}

// byteRange returns the hcl.Range of src[start:end].
func byteRange(name string, src []byte, start, end int) hcl.Range {
	pos := func(off int) hcl.Pos {
		line := 1 + bytes.Count(src[:off], []byte("\n"))
		col := off - (bytes.LastIndexByte(src[:off], '\n') + 1) + 1
		return hcl.Pos{Line: line, Column: col, Byte: off}
	}
	return hcl.Range{Filename: name, Start: pos(start), End: pos(end)}
}
