package frontdoor

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/patchbay-mcp/patchbay"
)

// Status maps an error code to its HTTP status on the management face and
// for gateway-level errors (§3.2).
func Status(code string) int {
	switch code {
	case patchbay.EInvalid, patchbay.ECredentialNotFound:
		return http.StatusBadRequest
	case patchbay.EUnauthorized:
		return http.StatusUnauthorized
	case patchbay.EForbidden:
		return http.StatusForbidden
	case patchbay.ENotFound, patchbay.EConnectorNotFound, patchbay.EActionNotFound:
		return http.StatusNotFound
	case patchbay.EMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case patchbay.ENotAcceptable:
		return http.StatusNotAcceptable
	case patchbay.EConflict:
		return http.StatusConflict
	case patchbay.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case patchbay.EUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case patchbay.ERateLimited:
		return http.StatusTooManyRequests
	case patchbay.EUpstream:
		return http.StatusBadGateway
	case patchbay.EUnavailable:
		return http.StatusServiceUnavailable
	case patchbay.EUpstreamTimeout:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// ErrorBody is the §3.1 error envelope, members in the contract's order.
type ErrorBody struct {
	Error ErrorObject `json:"error"`
}

// ErrorObject is the envelope's error member.
type ErrorObject struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

// Envelope builds the §3.1 error object for err. Errors that are not
// *patchbay.Error become INTERNAL_ERROR "Internal error".
func Envelope(err error, requestID string) ErrorBody {
	code, msg := patchbay.EInternal, "Internal error"
	details := map[string]any{}
	var pe *patchbay.Error
	if errors.As(err, &pe) {
		code, msg = pe.Code, pe.Message
		for k, v := range pe.Details {
			details[k] = v
		}
	}
	details["requestId"] = requestID
	return ErrorBody{Error: ErrorObject{Code: code, Message: msg, Details: details}}
}

// WriteError writes err as the error envelope with the status of its code.
// Internal errors are logged in full (they never reach the client).
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := patchbay.ErrorCode(err)
	if code == patchbay.EInternal && log != nil {
		log.ErrorContext(r.Context(), "internal error", "request_id", RequestID(r.Context()), "error", err.Error())
	}
	WriteJSON(w, Status(code), Envelope(err, RequestID(r.Context())))
}

// WriteJSON writes v as compact JSON without HTML escaping.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"error":{"code":"INTERNAL_ERROR","message":"Internal error","details":{}}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// rpcError is a transport-layer body; a struct keeps the members in the
// contract's order (§3.3), which clients comparing bytes rely on.
type rpcError struct {
	JSONRPC string `json:"jsonrpc"`
	Error   struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	ID *int `json:"id"`
}

// WriteRPCError writes a transport-layer JSON-RPC error with id null (§3.3).
func WriteRPCError(w http.ResponseWriter, status, code int, message string) {
	e := rpcError{JSONRPC: "2.0"}
	e.Error.Code, e.Error.Message = code, message
	body, _ := json.Marshal(e)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func notFound() error { return patchbay.Errorf(patchbay.ENotFound, "Not found") }

func forbidden(msg, reason string) error {
	return patchbay.Errorf(patchbay.EForbidden, "%s", msg).Reason(reason)
}
