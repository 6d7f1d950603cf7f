package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/relay-dev/relay/runs"
)

// apiError is an error response: what a handler returns when it knows the
// status. Every other error goes through classify.
type apiError struct {
	status     int
	code       string
	field      string
	msg        string
	problems   []string
	retryAfter time.Duration
	allow      string
	// cause is logged, never shown.
	cause error
}

func (e *apiError) Error() string { return e.msg }

// invalid is a 400 blaming field.
func invalid(field, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "invalid_request", field: field, msg: field + ": " + fmt.Sprintf(format, args...)}
}

// unprocessable is a 422 blaming field: well-formed, but not acceptable.
func unprocessable(field, format string, args ...any) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, code: "invalid_field", field: field, msg: field + ": " + fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *apiError {
	return &apiError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf(format, args...)}
}

// writeError writes err in the envelope. Errors the API did not classify
// itself are classified from their cause; the messages of internal errors
// stay in the log, under the request ID.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *apiError
	if !errors.As(err, &e) {
		e = classify(err)
	} else if e.cause != nil {
		err = e.cause
	}
	if e.status >= 500 {
		a.log.Error("API request failed", "request_id", RequestID(r), "method", r.Method, "path", r.URL.Path, "status", e.status, "err", err)
	} else if e.status != http.StatusUnauthorized && e.status != http.StatusNotFound {
		a.log.Info("API request refused", "request_id", RequestID(r), "method", r.Method, "path", r.URL.Path, "status", e.status, "err", err)
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.retryAfter+time.Second-1)/time.Second)))
	}
	if e.allow != "" {
		w.Header().Set("Allow", e.allow)
	}
	WriteJSON(w, e.status, ErrorBody{Error: ErrorDetail{Code: e.code, Message: e.msg, RequestID: RequestID(r), Field: e.field, Problems: e.problems}})
}

// classify maps an error of a runs operation to a response. Temporal's
// answers map by gRPC code; the messages of transport and server faults
// are not shown. Errors with no Temporal cause are the operation refusing
// the request (a run that did not fail cannot be replayed) and say why.
func classify(err error) *apiError {
	internal := &apiError{status: http.StatusInternalServerError, code: "internal", msg: "internal error; the server log has the details under this request ID"}
	switch {
	case errors.Is(err, runs.ErrNotFound):
		return &apiError{status: http.StatusNotFound, code: "not_found", msg: err.Error()}
	case errors.Is(err, runs.ErrPlanRefused):
		return &apiError{status: http.StatusUnprocessableEntity, code: "plan_refused", msg: err.Error()}
	case errors.Is(err, runs.ErrNoParkedStep):
		// As the run's own validator refuses a run no longer parked.
		return &apiError{status: http.StatusConflict, code: "rejected", msg: runs.ErrNoParkedStep.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: http.StatusGatewayTimeout, code: "timeout", msg: "Temporal did not answer in time; retry"}
	case errors.Is(err, context.Canceled):
		return &apiError{status: http.StatusServiceUnavailable, code: "cancelled", msg: "the request was cancelled"}
	}
	var se serviceerror.ServiceError
	code, msg, temporalErr := codes.Unknown, "", false
	if errors.As(err, &se) {
		code, msg, temporalErr = se.Status().Code(), se.Status().Message(), true
	} else if st, ok := status.FromError(err); ok {
		code, msg, temporalErr = st.Code(), st.Message(), true
	}
	if temporalErr {
		switch code {
		case codes.NotFound:
			return &apiError{status: http.StatusNotFound, code: "not_found", msg: msg}
		case codes.AlreadyExists:
			return &apiError{status: http.StatusConflict, code: "conflict", msg: msg}
		case codes.FailedPrecondition:
			return &apiError{status: http.StatusConflict, code: "conflict", msg: msg}
		case codes.InvalidArgument:
			return &apiError{status: http.StatusBadRequest, code: "invalid_request", msg: msg}
		case codes.Unavailable, codes.ResourceExhausted, codes.Aborted:
			return &apiError{status: http.StatusServiceUnavailable, code: "unavailable", msg: "Temporal is unavailable; retry later", retryAfter: time.Second}
		case codes.DeadlineExceeded:
			return &apiError{status: http.StatusGatewayTimeout, code: "timeout", msg: "Temporal did not answer in time; retry"}
		default:
			return internal
		}
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return &apiError{status: http.StatusConflict, code: "rejected", msg: appErr.Message()}
	}
	var te *temporal.TimeoutError
	var ce *temporal.CanceledError
	if errors.As(err, &te) || errors.As(err, &ce) {
		return internal
	}
	return &apiError{status: http.StatusUnprocessableEntity, code: "operation_refused", msg: err.Error()}
}

// readBody reads the request body, at most MaxBody bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &apiError{status: http.StatusRequestEntityTooLarge, code: "body_too_large", field: "body", msg: fmt.Sprintf("body: larger than %d bytes", MaxBody)}
		}
		return nil, invalid("body", "could not be read")
	}
	return b, nil
}

// decodeBody decodes a JSON object body into v, refusing unknown fields.
// An empty body leaves v as it is when emptyOK.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) error {
	b, err := readBody(w, r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if emptyOK {
			return nil
		}
		return invalid("body", "empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return invalid("body", "unexpected data after the JSON object")
	}
	return nil
}

// jsonError names the field a decoding error is about.
func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return invalid("body", "invalid JSON at byte %d: %s", syntax.Offset, syntax.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return invalid("body", "must be a JSON object, got %s", typ.Value)
		}
		return invalid(field, "must be %s, got %s", jsonType(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("body", "truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return invalid(name, "unknown field")
	}
	return invalid("body", "invalid JSON")
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	}
	return "of another type"
}
