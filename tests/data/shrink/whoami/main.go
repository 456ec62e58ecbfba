// Says who it runs as: it looks the user up, so it needs /etc/passwd where it runs.
package main

import (
	"fmt"
	"os"
	"os/user"
)

func main() {
	me, err := user.Current()
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println(me.Username)
}
