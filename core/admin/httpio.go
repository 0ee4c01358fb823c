package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"bulwark/core/adminapi"
)

// writeJSON sends v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

// writeError sends the JSON error body, choosing the status from err.
func writeError(w http.ResponseWriter, err error) {
	var ae *adminapi.Error
	switch {
	case errors.As(err, &ae):
		if ae.Status == 0 {
			ae.Status = http.StatusBadRequest
		}
		writeJSON(w, ae.Status, ae)
	case errors.Is(err, adminapi.ErrNotFound):
		writeJSON(w, http.StatusNotFound, adminapi.Error{Message: err.Error()})
	case errors.Is(err, adminapi.ErrConflict):
		writeJSON(w, http.StatusConflict, adminapi.Error{Message: err.Error()})
	case errors.Is(err, adminapi.ErrUnavailable):
		writeJSON(w, http.StatusNotImplemented, adminapi.Error{Message: err.Error()})
	default:
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Message: err.Error()})
	}
}

func unavailable(what string) error {
	return fmt.Errorf("%s: %w yet", what, adminapi.ErrUnavailable)
}

// decode reads exactly one JSON value into v from a body capped at max bytes, refusing
// unknown fields and trailing data; errors name the field where known.
func decode(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return adminapi.Errorf(http.StatusUnsupportedMediaType, "", "request body must be application/json, got %q", ct)
	}
	body := http.MaxBytesReader(w, r.Body, max)
	d := json.NewDecoder(body)
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return jsonError(err, max)
	}
	if _, err := d.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return jsonError(err, max)
		}
		return adminapi.Errorf(http.StatusBadRequest, "", "request body holds more than one JSON value")
	}
	return nil
}

func jsonError(err error, max int64) error {
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return adminapi.Errorf(http.StatusRequestEntityTooLarge, "", "request body is larger than %d bytes", max)
	case errors.Is(err, io.EOF):
		return adminapi.Errorf(http.StatusBadRequest, "", "request body is empty: a JSON object is required")
	case errors.As(err, &se):
		return adminapi.Errorf(http.StatusBadRequest, "", "malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		return adminapi.Errorf(http.StatusBadRequest, te.Field, "must be %s, got JSON %s", te.Type, te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return adminapi.Errorf(http.StatusBadRequest, f, "unknown field %q", f)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return adminapi.Errorf(http.StatusBadRequest, "", "malformed JSON: body ends early")
	}
	return adminapi.Errorf(http.StatusBadRequest, "", "malformed JSON: %v", err)
}
