package engine

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/nspawnctl/nspawnctl/internal/host/hostfake"
)

// An empty list encodes as [] (what list --json prints), not null.
func TestListEmptyIsEmptyArray(t *testing.T) {
	m, _, _ := testManager(t)
	m.Machines = &hostfake.Machines{}
	list, err := m.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "[]" {
		t.Errorf("list of no machines encodes as %s, want []", b)
	}
}
