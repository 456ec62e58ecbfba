// Notes a line in a temporary file: os.CreateTemp writes under $TMPDIR, else /tmp.
package main

import (
	"fmt"
	"os"
)

func main() {
	file, err := os.CreateTemp("", "scratchpad-*")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	defer os.Remove(file.Name())
	fmt.Fprintln(file, "noted")
	fmt.Println("noted in a temporary file")
}
