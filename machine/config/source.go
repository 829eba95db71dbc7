package config

import "github.com/hashicorp/hcl/v2"

// Source is a configuration as read from the files and directories a
// command was given: the merged Config, the files it came from, every
// diagnostic found so far, and the parsed sources that a printed
// diagnostic quotes its snippet from. Commands read a Source, validate its
// Config (each against the host facts it has), add validation's
// diagnostics, and print them all in one go.
type Source struct {
	// Files are the configuration files, in the order they were merged.
	Files []string
	// Config is the merged configuration. It is incomplete when
	// Diagnostics has errors from reading and decoding.
	Config *Config
	// Diagnostics are those of reading and decoding the files, followed by
	// those given to Add.
	Diagnostics hcl.Diagnostics

	parser *Parser
}

// Read expands paths (files, or directories of *.hcl and *.hcl.json files)
// and reads, parses, decodes and merges the files. The error is for a path
// that cannot be expanded (it does not exist, or a directory holds no
// configuration file); problems inside the files are in Diagnostics.
func Read(paths []string) (*Source, error) {
	files, err := ExpandPaths(paths)
	if err != nil {
		return nil, err
	}
	p := NewParser()
	cfg, diags := p.Load(files)
	return &Source{Files: files, Config: cfg, Diagnostics: diags, parser: p}, nil
}

// Add appends diagnostics found later (by validation) to the source's.
func (s *Source) Add(diags hcl.Diagnostics) {
	s.Diagnostics = append(s.Diagnostics, diags...)
}

// Errors counts the diagnostics that are errors.
func (s *Source) Errors() int {
	n := 0
	for _, d := range s.Diagnostics {
		if d.Severity == hcl.DiagError {
			n++
		}
	}
	return n
}

// Parsed returns the parsed files by name, for hcl.NewDiagnosticTextWriter.
func (s *Source) Parsed() map[string]*hcl.File { return s.parser.Files() }
