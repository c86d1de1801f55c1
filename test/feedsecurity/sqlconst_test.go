package feedsecurity

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// sqlMethods are the calls that take SQL text, after a context, in
// database/sql (SQLite) and pgx (PostgreSQL).
var sqlMethods = map[string]bool{
	"ExecContext": true, "QueryContext": true, "QueryRowContext": true, "PrepareContext": true,
	"Exec": true, "Query": true, "QueryRow": true, "Prepare": true,
}

// TestSQLIsConstant parses the two stores and checks that the SQL text of
// every query is a constant: a string literal, a package constant, or a sum
// of those. Values then reach the database only as parameters ($1, ?), so
// no input can change a statement. The one exception is the migrations,
// whose text is the embedded migrations/*.sql files.
func TestSQLIsConstant(t *testing.T) {
	_, self, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(self), "..", "..")
	calls := 0
	for _, pkg := range []string{"feed/sqlite", "feed/postgres"} {
		fset := token.NewFileSet()
		files, err := filepath.Glob(filepath.Join(root, pkg, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		consts := map[string]bool{}
		var parsed []*ast.File
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			parsed = append(parsed, f)
			for _, d := range f.Decls {
				if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
					for _, s := range g.Specs {
						for _, n := range s.(*ast.ValueSpec).Names {
							consts[n.Name] = true
						}
					}
				}
			}
		}
		var constant func(e ast.Expr) bool
		constant = func(e ast.Expr) bool {
			switch e := e.(type) {
			case *ast.BasicLit:
				return e.Kind == token.STRING
			case *ast.Ident:
				return consts[e.Name]
			case *ast.ParenExpr:
				return constant(e.X)
			case *ast.BinaryExpr:
				return e.Op == token.ADD && constant(e.X) && constant(e.Y)
			}
			return false
		}
		for _, f := range parsed {
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || !sqlMethods[sel.Sel.Name] || len(call.Args) < 2 {
					return true
				}
				calls++
				arg := call.Args[1]
				if constant(arg) {
					return true
				}
				// Migrations: string(body) or body, read from the embedded files.
				if c, ok := arg.(*ast.CallExpr); ok && len(c.Args) == 1 {
					if id, ok := c.Args[0].(*ast.Ident); ok && id.Name == "body" {
						return true
					}
				}
				if id, ok := arg.(*ast.Ident); ok && id.Name == "body" {
					return true
				}
				t.Errorf("%s: SQL text of %s is not a constant", fset.Position(arg.Pos()), sel.Sel.Name)
				return true
			})
		}
	}
	if calls < 20 {
		t.Fatalf("found only %d SQL calls: the check is not looking at the stores", calls)
	}
	t.Logf("%d SQL calls checked", calls)
}
