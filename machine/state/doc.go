// Package state is nspawnctl's state directory: one Record per machine it
// manages (exactly what it made, so remove deletes that and nothing else),
// the directories it created (dirs.json), and each machine's applied
// generations for rollback. Writes are atomic and serialised by Store.Lock.
package state
