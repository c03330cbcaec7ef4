package p2p

import logging "github.com/ipfs/go-log/v2"

// log is the package logger; GOLOG_LOG_LEVEL="switchyard/p2p=debug" turns it up.
var log = logging.Logger("switchyard/p2p")
