// Waits for ever: its check can only time out.
package main

import "time"

func main() {
	time.Sleep(time.Hour)
}
