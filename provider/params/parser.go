package params

import (
	"slices"
	"sync"
)

// Parser parses Mount requests as Parse does, and keeps the parsed objects
// parameter of the SecretProviderClasses it has seen: every republish of
// every pod of a SecretProviderClass sends the same text, and parsing it
// as YAML was the largest cost of a Mount whose secrets are cached. The
// text holds names and options only, never a value or a token. The zero
// Parser is ready to use and safe for concurrent use.
type Parser struct {
	mu sync.Mutex
	// objects holds nothing identity-specific: keyed by the objects text,
	// each entry is what that text alone parses to (objects, errors).
	objects map[string]parsedObjects
}

type parsedObjects struct {
	objects []Object
	errs    []error
}

const (
	// maxParsedObjects bounds the kept objects parameters: one per
	// SecretProviderClass mounted on the node. The rule of the provider's
	// small caches (here and secrets' selections): when full, a random
	// entry makes room, so an edited SecretProviderClass's old text never
	// keeps the new one out, and more classes than the bound still mostly hit.
	maxParsedObjects = 64
	// maxParsedObjectsLen keeps only parameters up to this size, so the
	// cache holds at most maxParsedObjects * maxParsedObjectsLen bytes of
	// text.
	maxParsedObjectsLen = 16 << 10
)

// Parse validates a Mount request exactly as the package's Parse does.
func (p *Parser) Parse(attributesJSON, secretsJSON, permissionJSON string) (*Request, error) {
	return parse(attributesJSON, secretsJSON, permissionJSON, p.parseObjects)
}

// parseObjects is parseObjects through the cache. The returned slice is
// the caller's; the Objects in it share their Keys and Failover with the
// cache and must not be modified.
func (p *Parser) parseObjects(raw string) ([]Object, []error) {
	p.mu.Lock()
	got, ok := p.objects[raw]
	p.mu.Unlock()
	if !ok {
		got.objects, got.errs = parseObjects(raw)
		if len(raw) <= maxParsedObjectsLen {
			p.mu.Lock()
			if p.objects == nil {
				p.objects = make(map[string]parsedObjects)
			}
			if _, dup := p.objects[raw]; !dup && len(p.objects) >= maxParsedObjects {
				for k := range p.objects { // map order is random
					delete(p.objects, k)
					break
				}
			}
			p.objects[raw] = got
			p.mu.Unlock()
		}
	}
	return slices.Clone(got.objects), got.errs
}
