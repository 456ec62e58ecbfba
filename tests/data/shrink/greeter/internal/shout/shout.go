package shout

import "strings"

// Loud says it in capitals.
func Loud(text string) string { return strings.ToUpper(text) }
