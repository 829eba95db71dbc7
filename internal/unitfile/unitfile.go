// Package unitfile renders systemd unit-style files (.nspawn, .network,
// .netdev, unit drop-ins) from ordered sections, refusing any value that
// could break out of its line.
//
// go-systemd's unit serializer does not escape values, so every value that
// reaches it must have passed UnsafeValue first; Builder enforces that.
package unitfile

import (
	"fmt"
	"io"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"
)

// Option is one Key=Value line of a section.
type Option struct {
	Section string
	Name    string
	Value   string
}

// UnsafeValue reports what in s could break out of a unit-file line, or ""
// when s is safe: a newline or other control character would start a new key
// or a [Section], and a trailing backslash would continue the line into the
// next key.
func UnsafeValue(s string) string {
	for i, r := range s {
		if r == '\n' || r == '\r' {
			return fmt.Sprintf("it contains a line break at byte %d, which would start a new line in a rendered unit file", i)
		}
		if r < 0x20 && r != '\t' || r == 0x7f {
			return fmt.Sprintf("it contains the control character %U at byte %d", r, i)
		}
	}
	if strings.HasSuffix(s, `\`) {
		return "it ends with a backslash, which would continue the line into the next setting of a unit file"
	}
	return ""
}

// Builder collects sections in order; a section added twice is rendered twice
// (as .network files need for repeated [Address] or [IPv6Prefix] sections)
// only when added with AddSection.
type Builder struct {
	header   []string
	sections []*unit.UnitSection
	err      error
}

// New returns a Builder whose output starts with the given comment lines.
func New(comment ...string) *Builder { return &Builder{header: comment} }

// Section returns the last section called name, creating it if needed.
func (b *Builder) Section(name string) *unit.UnitSection {
	for i := len(b.sections) - 1; i >= 0; i-- {
		if b.sections[i].Section == name {
			return b.sections[i]
		}
	}
	return b.AddSection(name)
}

// AddSection appends a new section called name, even if one exists.
func (b *Builder) AddSection(name string) *unit.UnitSection {
	s := &unit.UnitSection{Section: name}
	b.sections = append(b.sections, s)
	return s
}

// Set appends Key=Value lines to the last section called section, one line
// per value. Empty values are skipped: an empty assignment resets a list in
// systemd, which nspawnctl only emits on purpose through SetRaw.
func (b *Builder) Set(section, key string, values ...string) {
	for _, v := range values {
		if v == "" {
			continue
		}
		b.SetRaw(section, key, v)
	}
}

// SetRaw appends one Key=Value line, even with an empty value.
func (b *Builder) SetRaw(section, key, value string) {
	if msg := UnsafeValue(value); msg != "" && b.err == nil {
		b.err = fmt.Errorf("%s.%s: %s", section, key, msg)
		return
	}
	s := b.Section(section)
	s.Entries = append(s.Entries, &unit.UnitEntry{Name: key, Value: value})
}

// Bool appends Key=yes or Key=no.
func (b *Builder) Bool(section, key string, v bool) {
	if v {
		b.SetRaw(section, key, "yes")
	} else {
		b.SetRaw(section, key, "no")
	}
}

// Empty reports whether no section has an entry.
func (b *Builder) Empty() bool {
	for _, s := range b.sections {
		if len(s.Entries) > 0 {
			return false
		}
	}
	return true
}

// Strings formats values (addresses, prefixes) for Set.
func Strings[T fmt.Stringer](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.String()
	}
	return out
}

// Merge appends raw pass-through options, each to the last section of its name.
func (b *Builder) Merge(opts []Option) {
	for _, o := range opts {
		b.SetRaw(o.Section, o.Name, o.Value)
	}
}

// Bytes renders the file. It fails if any value was unsafe; validation is
// meant to have caught that already, so this is the last line of defence.
func (b *Builder) Bytes() ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	var sb strings.Builder
	for _, h := range b.header {
		sb.WriteString("# " + h + "\n")
	}
	if len(b.header) > 0 {
		sb.WriteString("\n")
	}
	var nonEmpty []*unit.UnitSection
	for _, s := range b.sections {
		if len(s.Entries) > 0 {
			nonEmpty = append(nonEmpty, s)
		}
	}
	body, err := io.ReadAll(unit.SerializeSections(nonEmpty))
	if err != nil {
		return nil, err
	}
	sb.Write(body)
	return []byte(sb.String()), nil
}
