// Package openapi imports an OpenAPI document (3.0, 3.1, or Swagger 2.0
// converted to 3.0) as a Patchbay connector definition, following the mapping
// of API.md §11.5.
//
// The import is pure: it never fetches a URL (external $refs are refused),
// keeps no state, and reports everything it could not map as a warning that
// names the operation, so an administrator can see what an AI model will not
// be able to call. Parameter schemas are rendered as self-contained JSON
// Schema 2020-12 objects: every $ref is inlined, recursion is cut at depth 10
// with {}, and keywords that only document responses or examples are dropped,
// because models read these schemas and every byte costs context.
package openapi
