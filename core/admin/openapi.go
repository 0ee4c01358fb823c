package admin

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the OpenAPI 3 description of the routes (kept equal to the route table by
// TestOpenAPIMatchesRoutes).
//
//go:embed openapi.json
var OpenAPI []byte

func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(OpenAPI)
	return err
}
