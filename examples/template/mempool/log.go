package mempool

import (
	logging "github.com/ipfs/go-log/v2"
)

// log gives the template the printf-style Info and Warning of the logger it
// was written for, on top of go-log.
var log = templateLogger{logging.WithSkip(logging.Logger("switchyard/template"), 1)}

type templateLogger struct{ l *logging.ZapEventLogger }

func (t templateLogger) Info(format string, args ...interface{})    { t.l.Infof(format, args...) }
func (t templateLogger) Warning(format string, args ...interface{}) { t.l.Warnf(format, args...) }
