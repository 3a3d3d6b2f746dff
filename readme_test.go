package session_test

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeQuickstartIsTheExample keeps the README's quickstart in sync
// with examples/quickstart, which the build compiles: the README must show
// that program verbatim.
func TestReadmeQuickstartIsTheExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("examples/quickstart/main.go")
	if err != nil {
		t.Fatal(err)
	}
	block := "```go\n" + string(src) + "```\n"
	if !strings.Contains(string(readme), block) {
		t.Error("README.md does not contain examples/quickstart/main.go verbatim in a ```go block; copy it over")
	}
}

// TestReadmeCommandsRunInCI checks that .ci/run runs exactly the commands
// the README gives: the test command, and the benchmark command of the
// bench module (which CI runs inside bench/).
func TestReadmeCommandsRunInCI(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	ci, err := os.ReadFile(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ readme, ci string }{
		{"go test -race ./...", "go test -race ./..."},
		{"cd bench && go test -run '^$' -bench . -benchmem", "go test -run '^$' -bench . -benchmem"},
	} {
		if !strings.Contains(string(readme), "```sh\n"+c.readme+"\n```") {
			t.Errorf("README.md does not give the command %q in a ```sh block", c.readme)
		}
		found := false
		for _, line := range strings.Split(string(ci), "\n") {
			if strings.TrimSpace(line) == c.ci {
				found = true
			}
		}
		if !found {
			t.Errorf(".ci/run does not run %q on a line of its own", c.ci)
		}
	}
}
