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

// TestReadmeNamesTheCITestCommand checks that .ci/run runs exactly the
// test command the README gives.
func TestReadmeNamesTheCITestCommand(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	ci, err := os.ReadFile(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	const cmd = "go test -race ./..."
	if !strings.Contains(string(readme), "```sh\n"+cmd+"\n```") {
		t.Errorf("README.md does not give the test command %q in a ```sh block", cmd)
	}
	found := false
	for _, line := range strings.Split(string(ci), "\n") {
		if strings.TrimSpace(line) == cmd {
			found = true
		}
	}
	if !found {
		t.Errorf(".ci/run does not run %q on a line of its own", cmd)
	}
}
