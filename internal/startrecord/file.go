package startrecord

import (
	"errors"

	"github.com/agent-entrypoint/agent-entrypoint/internal/claim"
)

// ErrNone is returned by Read where this container start left no record.
var ErrNone = errors.New("no record of this start")

// Read returns the record of this container start, from its marker.
func Read() (Record, error) {
	data, err := claim.ReadMarker()
	switch {
	case errors.Is(err, claim.ErrNoMarker), err == nil && len(data) == 0:
		return Record{}, ErrNone
	case err != nil:
		return Record{}, err
	}
	return Parse(data)
}
