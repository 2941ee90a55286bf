package openapi

import (
	"encoding/json"
	"testing"

	"github.com/patchbay-mcp/patchbay"
)

// FuzzImport feeds arbitrary bytes to the importer: it must return a result
// or an EInvalid error, never panic, and a result must encode as JSON.
func FuzzImport(f *testing.F) {
	f.Add([]byte(header("3.0.3") + "paths: {/a: {get: {operationId: a, responses: {'200': {description: ok}}}}}\n"))
	f.Add([]byte(header("3.1.0") + `paths:
  /a/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: [string, 'null']}}]
    post:
      requestBody: {required: true, content: {application/json: {schema: {$ref: '#/components/schemas/N'}}}}
      responses: {'200': {description: ok}}
components:
  schemas:
    N: {type: object, properties: {next: {$ref: '#/components/schemas/N'}, v: {const: 1}}}
  securitySchemes:
    o: {type: oauth2, flows: {authorizationCode: {authorizationUrl: /a, tokenUrl: /t, scopes: {x: y}}}}
`))
	f.Add([]byte(`{"swagger":"2.0","info":{"title":"T","version":"1"},"host":"h.example","paths":{"/f":{"post":{"consumes":["application/x-www-form-urlencoded"],"parameters":[{"name":"a","in":"formData","type":"string","required":true}],"responses":{"200":{"description":"ok"}}}}}}`))
	f.Add([]byte(header("3.0.3") + "paths: {/a: {get: {responses: {'200': {content: {application/json: {schema: {$ref: 'http://127.0.0.1:1/x'}}}}}}}}\n"))
	f.Add([]byte("openapi: 3.0.0\ninfo: &a {title: *a}\n"))
	f.Add([]byte(`{"openapi":"3.1.0","info":{"title":"T","version":"1"},"servers":[{"url":"https://a.example"}],"paths":{"/{a}/{b}":{"get":{"parameters":[{"name":"a","in":"path","required":true,"content":{"application/json":{"schema":{"type":"object"}}}}],"responses":{}}}}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		res, err := Import(doc, nil)
		if err != nil {
			if code := patchbay.ErrorCode(err); code != patchbay.EInvalid {
				t.Fatalf("error code %s: %v", code, err)
			}
			return
		}
		if _, err := json.Marshal(res.Connector); err != nil {
			t.Fatalf("result does not encode: %v", err)
		}
	})
}
