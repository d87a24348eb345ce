package awsemu

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// operation names one AWS call and the wire protocol it came in.
type operation struct {
	service string
	action  string
	query   bool // awsQuery (form body, XML answers), as STS uses
}

func (o operation) String() string { return o.service + ":" + o.action }

// identify reads the operation from a request without consuming its body,
// and for the query protocol its form.
func identify(r *http.Request) (operation, url.Values, error) {
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		// JSON protocol: "secretsmanager.GetSecretValue".
		svc, action, ok := strings.Cut(target, ".")
		if !ok {
			return operation{}, nil, fmt.Errorf("awsfront: bad X-Amz-Target %q", target)
		}
		return operation{service: strings.ToLower(svc), action: action}, nil, nil
	}
	// Query protocol (STS): Action is a form field.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return operation{}, nil, fmt.Errorf("awsfront: read body: %w", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return operation{}, nil, fmt.Errorf("awsfront: parse query body: %w", err)
	}
	action := form.Get("Action")
	if action == "" {
		action = r.URL.Query().Get("Action")
	}
	if action == "" {
		return operation{}, nil, errors.New("awsfront: request names no operation")
	}
	return operation{service: "sts", action: action, query: true}, form, nil
}

// writeFault answers in the protocol the caller used, so the SDK parses the
// error code exactly as it would from AWS.
func writeFault(w http.ResponseWriter, op operation, f *Fault) {
	msg := f.Message
	if msg == "" {
		msg = "injected by awsfront"
	}
	if op.query {
		type errBody struct {
			Type    string `xml:"Type"`
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		}
		type errResp struct {
			XMLName   xml.Name `xml:"ErrorResponse"`
			Error     errBody  `xml:"Error"`
			RequestID string   `xml:"RequestId"`
		}
		kind := "Sender"
		if f.Status >= 500 {
			kind = "Receiver"
		}
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(f.Status)
		_ = xml.NewEncoder(w).Encode(errResp{Error: errBody{Type: kind, Code: f.Code, Message: msg}, RequestID: "awsfront"})
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", f.Code)
	w.WriteHeader(f.Status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": f.Code, "message": msg})
}
