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

// The messages of the 5xx answers, which never show their cause: it is
// logged under the request ID.
const (
	msgInternal    = "internal error; the server log has the details under this request ID"
	msgUnavailable = "Temporal is unavailable; retry later"
	msgNoWorker    = "no relay worker is polling the task queue; retry later"
	msgTimeout     = "Temporal did not answer in time; retry later"
)

// transientRetry is the Retry-After of a 503 for a transient failure.
const transientRetry = time.Second

// noPoller is in the message of the FailedPrecondition Temporal answers a
// query with when no worker has polled the run's task queue lately
// (matching's errNoRecentPoller); the code alone would say conflict.
const noPoller = "no poller seen for task queue recently"

// classify maps an error of a runs operation to a response: the refusals of
// the runs package say why (the request cannot succeed as sent), a
// transient failure is 503 with Retry-After, Temporal's answers about the
// request map by gRPC code, and anything else is a 500. The messages of
// 5xx answers are generic.
func classify(err error) *apiError {
	if e := refused(err); e != nil {
		return e
	}
	if e := transient(err); e != nil {
		return e
	}
	if e := temporalAnswer(err); e != nil {
		return e
	}
	return internalError()
}

func internalError() *apiError {
	return &apiError{status: http.StatusInternalServerError, code: "internal", msg: msgInternal}
}

// refused maps the errors by which the runs package refuses a request, or
// nil when err is none of them.
func refused(err error) *apiError {
	var closed *runs.RunClosedError
	var notLoaded *runs.FlowNotLoadedError
	switch {
	case errors.Is(err, runs.ErrNotFound):
		return &apiError{status: http.StatusNotFound, code: "not_found", msg: err.Error()}
	case errors.Is(err, runs.ErrPlanRefused):
		return &apiError{status: http.StatusUnprocessableEntity, code: "plan_refused", msg: err.Error()}
	case errors.Is(err, runs.ErrKeyReused):
		return &apiError{status: http.StatusUnprocessableEntity, code: "idempotency_key_reused", field: "Idempotency-Key", msg: "Idempotency-Key: " + err.Error()}
	case errors.As(err, &closed):
		return &apiError{status: http.StatusConflict, code: "rejected", msg: closed.Error()}
	case errors.As(err, &notLoaded):
		return &apiError{status: http.StatusConflict, code: "flow_not_loaded", msg: notLoaded.Error()}
	case errors.Is(err, runs.ErrNoParkedStep):
		// As the run's own validator refuses a run no longer parked.
		return &apiError{status: http.StatusConflict, code: "rejected", msg: runs.ErrNoParkedStep.Error()}
	}
	return nil
}

// grpcStatus is the gRPC code and message of a Temporal error in err's
// chain; ok is false when there is none.
func grpcStatus(err error) (code codes.Code, msg string, ok bool) {
	var se serviceerror.ServiceError
	if errors.As(err, &se) {
		return se.Status().Code(), se.Status().Message(), true
	}
	if st, ok := status.FromError(err); ok {
		return st.Code(), st.Message(), true
	}
	return codes.Unknown, "", false
}

// transient maps a failure that a retry later may well not meet (Temporal down,
// overloaded or slow, no worker to answer a query) to a 503 with
// Retry-After, or returns nil. A timed-out write may have taken effect:
// the client retries it under the same Idempotency-Key.
func transient(err error) *apiError {
	unavailable := func(code, msg string) *apiError {
		return &apiError{status: http.StatusServiceUnavailable, code: code, msg: msg, retryAfter: transientRetry}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return unavailable("timeout", msgTimeout)
	}
	if errors.Is(err, context.Canceled) {
		// The client went away; nobody reads the answer.
		return &apiError{status: http.StatusServiceUnavailable, code: "cancelled", msg: "the request was cancelled"}
	}
	code, msg, ok := grpcStatus(err)
	switch {
	case !ok:
		return nil
	case code == codes.DeadlineExceeded:
		return unavailable("timeout", msgTimeout)
	case code == codes.Unavailable, code == codes.ResourceExhausted, code == codes.Aborted:
		return unavailable("unavailable", msgUnavailable)
	case code == codes.FailedPrecondition && strings.Contains(msg, noPoller):
		return unavailable("unavailable", msgNoWorker)
	}
	return nil
}

// temporalAnswer maps Temporal's answers about the request by gRPC code,
// with their messages, and a run's own refusal (an update validator's
// application error); nil for anything else. A query that failed in the
// worker is not the request's fault, whatever its code says.
func temporalAnswer(err error) *apiError {
	var queryFailed *serviceerror.QueryFailed
	if errors.As(err, &queryFailed) {
		return internalError()
	}
	if code, msg, ok := grpcStatus(err); ok {
		switch code {
		case codes.NotFound:
			return &apiError{status: http.StatusNotFound, code: "not_found", msg: msg}
		case codes.AlreadyExists, codes.FailedPrecondition:
			return &apiError{status: http.StatusConflict, code: "conflict", msg: msg}
		case codes.InvalidArgument:
			return &apiError{status: http.StatusBadRequest, code: "invalid_request", msg: msg}
		}
		return internalError()
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return &apiError{status: http.StatusConflict, code: "rejected", msg: appErr.Message()}
	}
	return nil
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
