package transport

import (
	logging "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/gologshim"
)

// log is this package's logger; its level is set like every go-log
// subsystem's, e.g. GOLOG_LOG_LEVEL="switchyard/transport=debug".
var log = logging.Logger("switchyard/transport")

// go-libp2p v0.51 logs through log/slog, via its gologshim package, not
// through go-log. Left alone, gologshim writes to stderr with its own reading
// of GOLOG_LOG_LEVEL and its own format. Handing it go-log's slog bridge
// makes go-libp2p's subsystems ("swarm2", "basichost", "nat", ...) ordinary
// go-log subsystems: same output, same format, and their levels follow
// GOLOG_LOG_LEVEL and logging.SetLogLevel at run time, like ours.
//
// gologshim picks its handler at a logger's first use, so this must run
// before any go-libp2p code logs; a package init runs before any host of
// ours exists. Importing this package is enough; nothing else is changed
// (slog.Default is left to the application).
func init() {
	gologshim.SetDefaultHandler(logging.SlogHandler())
}
