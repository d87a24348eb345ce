package awsemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// OpGetParameters is the front's name of Parameter Store's GetParameters.
const OpGetParameters = "amazonssm:GetParameters"

// ParameterVersion is one version of a Parameter Store parameter that the
// front serves in the emulator's place. kumo keeps only a parameter's
// latest value and has no labels, so GetParameters names with a version or
// label selector ("name:3", "name:prod") are answered from here; every
// other name still goes to kumo. Only this piece is a stand-in.
type ParameterVersion struct {
	Name    string
	Version int64
	Labels  []string
	// Type is String, StringList or SecureString.
	Type  string
	Value string
}

// AddParameterVersion makes the front serve p for p.Name:p.Version and
// p.Name:LABEL for each of its labels; a label moves from any other
// version of the parameter to p, as LabelParameterVersion moves it.
func (f *Front) AddParameterVersion(p ParameterVersion) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.paramVersions == nil {
		f.paramVersions = map[string][]ParameterVersion{}
	}
	vs := f.paramVersions[p.Name]
	for i := range vs {
		vs[i].Labels = slices.DeleteFunc(slices.Clone(vs[i].Labels), func(l string) bool { return slices.Contains(p.Labels, l) })
	}
	f.paramVersions[p.Name] = append(vs, p)
}

// maxGetParametersNames is the most names GetParameters takes; kumo takes
// any number, so the front refuses more as AWS does.
const maxGetParametersNames = 10

type getParametersIn struct {
	Names          []string `json:"Names"`
	WithDecryption bool     `json:"WithDecryption"`
}

type parameterOut struct {
	ARN              string  `json:"ARN,omitempty"`
	DataType         string  `json:"DataType,omitempty"`
	LastModifiedDate float64 `json:"LastModifiedDate,omitempty"`
	Name             string  `json:"Name"`
	Selector         string  `json:"Selector,omitempty"`
	Type             string  `json:"Type"`
	Value            string  `json:"Value"`
	Version          int64   `json:"Version"`
}

type getParametersOut struct {
	Parameters        []parameterOut `json:"Parameters"`
	InvalidParameters []string       `json:"InvalidParameters"`
}

// splitSelector splits "name:selector" (the name may be an ARN, with five
// colons of its own).
func splitSelector(n string) (name, selector string) {
	colons := 0
	if strings.HasPrefix(n, "arn:") {
		colons = 5
	}
	if strings.Count(n, ":") <= colons {
		return n, ""
	}
	i := strings.LastIndex(n, ":")
	return n[:i], n[i+1:]
}

// getParameters answers GetParameters: the names limit as AWS enforces
// it, selectors from the front's versions, the rest from kumo.
func (f *Front) getParameters(w http.ResponseWriter, r *http.Request, op operation, upstream *url.URL) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var in getParametersIn
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if len(in.Names) > maxGetParametersNames {
		writeFault(w, op, &Fault{Status: http.StatusBadRequest, Code: "ValidationException",
			Message: fmt.Sprintf("1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to %d", maxGetParametersNames)})
		return
	}
	arnRegion := signingRegion(r)
	if arnRegion == "" {
		arnRegion = "us-east-1"
	}
	var out getParametersOut
	var plain []string
	f.mu.Lock()
	for _, n := range in.Names {
		name, sel := splitSelector(n)
		if sel == "" {
			plain = append(plain, n)
			continue
		}
		p, ok := f.parameterVersionLocked(name, sel)
		if !ok {
			out.InvalidParameters = append(out.InvalidParameters, n)
			continue
		}
		v := p.Value
		if p.Type == "SecureString" && !in.WithDecryption {
			v = "(encrypted)"
		}
		out.Parameters = append(out.Parameters, parameterOut{
			ARN:  "arn:aws:ssm:" + arnRegion + ":000000000000:parameter/" + strings.TrimPrefix(name, "/"),
			Name: name, Selector: ":" + sel, Type: p.Type, Value: v, Version: p.Version,
			DataType: "text", LastModifiedDate: float64(time.Now().Unix()),
		})
	}
	f.mu.Unlock()
	if len(plain) > 0 {
		up, status, err := f.forwardGetParameters(r, upstream, getParametersIn{Names: plain, WithDecryption: in.WithDecryption})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if status != http.StatusOK {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(status)
			_, _ = w.Write(up)
			return
		}
		var got getParametersOut
		if err := json.Unmarshal(up, &got); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out.Parameters = append(out.Parameters, got.Parameters...)
		out.InvalidParameters = append(out.InvalidParameters, got.InvalidParameters...)
	}
	slices.SortFunc(out.Parameters, func(a, b parameterOut) int { return strings.Compare(a.Name+a.Selector, b.Name+b.Selector) })
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func (f *Front) parameterVersionLocked(name, sel string) (ParameterVersion, bool) {
	vs := f.paramVersions[name]
	if n, err := strconv.ParseInt(sel, 10, 64); err == nil {
		for _, p := range vs {
			if p.Version == n {
				return p, true
			}
		}
		return ParameterVersion{}, false
	}
	for _, p := range vs {
		if slices.Contains(p.Labels, sel) {
			return p, true
		}
	}
	return ParameterVersion{}, false
}

// forwardGetParameters asks kumo (the region's upstream) for the names
// without a selector. kumo does not check signatures, so the rewritten
// body needs none.
func (f *Front) forwardGetParameters(r *http.Request, upstream *url.URL, in getParametersIn) ([]byte, int, error) {
	b, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, upstream.String()+"/", bytes.NewReader(b))
	if err != nil {
		return nil, 0, err
	}
	for _, h := range []string{"X-Amz-Target", "Content-Type", "Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
		req.Header.Set(h, r.Header.Get(h))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("awsfront: forward GetParameters: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return body, resp.StatusCode, err
}
