package loadgen

import "os"

func pid() int { return os.Getpid() }
