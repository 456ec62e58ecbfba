// Noon in UTC on 1 January 2020, in Paris: it loads a time zone, so it needs zone data.
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println(time.Date(2020, 1, 1, 12, 0, 0, 0, time.UTC).In(paris).Format("15:04 MST"))
}
