package oauth

import (
	"html/template"
)

// The pages are self-contained: inline styles only (the CSP allows nothing
// else), no scripts, no external resources. html/template escapes every
// value, so connector, server and field names from definitions are inert.
const pagesHTML = `
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>{{.}}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;background:#f5f6f8;color:#1d2330;margin:0}
main{max-width:28rem;margin:10vh auto;background:#fff;border-radius:10px;padding:2rem;box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:1.3rem;margin:0 0 1rem}p{line-height:1.5}dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem}
dt{color:#5b6475}dd{margin:0;word-break:break-word}label{display:block;margin:1rem 0 .3rem;font-weight:600}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #c5cad3;border-radius:6px;font-size:1rem}
.hint{color:#5b6475;font-size:.85rem;margin:.2rem 0 0}.problem{background:#fdecec;color:#8a1c1c;padding:.7rem;border-radius:6px}
button{margin-top:1.5rem;width:100%;padding:.7rem;border:0;border-radius:6px;background:#2557d6;color:#fff;font-size:1rem;cursor:pointer}
</style></head><body><main>{{end}}
{{define "foot"}}</main></body></html>{{end}}

{{define "who"}}<dl>
<dt>Connect</dt><dd>{{.ConnectorName}}</dd>
{{if .ServerName}}<dt>For</dt><dd>{{.ServerName}}</dd>{{end}}
<dt>User</dt><dd>{{.MaskedUser}}</dd>
</dl>{{end}}

{{define "confirm"}}{{template "head" (print "Connect " .ConnectorName)}}
<h1>Connect {{.ConnectorName}}</h1>
{{template "who" .}}
<p>You will be sent to {{.ConnectorName}} to sign in and approve access.</p>
<form method="post" action="/oauth/start/{{.FlowID}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<button type="submit">Continue to {{.ConnectorName}}</button>
</form>
{{template "foot"}}{{end}}

{{define "form"}}{{template "head" (print "Connect " .ConnectorName)}}
<h1>Connect {{.ConnectorName}}</h1>
{{template "who" .}}
{{if .Problem}}<p class="problem" role="alert">{{.Problem}}</p>{{end}}
<form method="post" action="/oauth/form/{{.FlowID}}" autocomplete="off">
<input type="hidden" name="csrf" value="{{.CSRF}}">
{{range .Inputs}}<label for="f-{{.Name}}">{{.Label}}</label>
<input id="f-{{.Name}}" name="{{.Name}}" type="{{.Type}}"{{if .Value}} value="{{.Value}}"{{end}}{{if .Required}} required{{end}}>
{{if .Hint}}<p class="hint">{{.Hint}}</p>{{end}}
{{end}}<button type="submit">Save credentials</button>
</form>
{{template "foot"}}{{end}}

{{define "message"}}{{template "head" .Title}}
<h1>{{.Title}}</h1>
<p>{{.Text}}</p>
{{template "foot"}}{{end}}
`

func parsePages() *template.Template {
	return template.Must(template.New("pages").Parse(pagesHTML))
}

// pageInfo is what the confirmation and form pages show (§13.2, §13.6).
type pageInfo struct {
	ConnectorName string
	ServerName    string
	MaskedUser    string
	FlowID        string
	CSRF          string
	Problem       string
	Inputs        []formInput
}

type formInput struct {
	Name, Label, Type, Value, Hint string
	Required                       bool
}

type messagePage struct {
	Title, Text string
}

// maskUser shows the first three characters of a user ID (§13.2).
func maskUser(id string) string {
	if len(id) <= 3 {
		return "***"
	}
	return id[:3] + "***"
}
