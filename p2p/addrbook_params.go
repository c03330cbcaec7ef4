package p2p

import "time"

// Address book parameters: btcd's addrmanager values, which the seed and
// CometBFT kept (CometBFT lowered numMissingDays to 7; we keep btcd's 30).
const (
	// needAddressThreshold: below this many addresses NeedMoreAddrs is true.
	needAddressThreshold = 1000

	// defaultSaveInterval: how often a started book with a file saves itself.
	defaultSaveInterval = 2 * time.Minute

	// defaultBanDuration: how long MarkBad refuses an address (CometBFT's
	// PEX ban time).
	defaultBanDuration = 24 * time.Hour

	// newBucketCount buckets of at most newBucketSize entries hold the
	// addresses heard of but never connected to ("new").
	newBucketCount = 256
	newBucketSize  = 64

	// oldBucketCount buckets of at most oldBucketSize entries hold the
	// addresses we have connected to ("old", "tried").
	oldBucketCount = 64
	oldBucketSize  = 64

	// newBucketsPerGroup: the new buckets that the addresses learnt from one
	// source group can occupy, and one (address group, source group) pair a
	// single bucket.
	newBucketsPerGroup = 32

	// maxNewPerSourceGroup: the new addresses learnt from one source group
	// that the book keeps (more evict that group's stalest), far below
	// needAddressThreshold: a book that stops asking for addresses has
	// heard from at least 16 source groups, so a few hostile peers cannot
	// fill it and make it stop asking the others.
	maxNewPerSourceGroup = needAddressThreshold / 16

	// oldBucketsPerGroup: the old buckets that the addresses of one group can
	// occupy: at most oldBucketsPerGroup*oldBucketSize = 256 entries (1/16 of
	// the old table).
	oldBucketsPerGroup = 4

	// maxNewBucketsPerAddress: the new buckets one address may be in (it
	// gains one, with falling probability, each time another source
	// announces it).
	maxNewBucketsPerAddress = 4

	// numMissingDays: a new address not announced for this long is bad.
	numMissingDays = 30

	// numRetries: a new address that failed this many attempts and never
	// succeeded is bad. It is also the number of failures after which a
	// proven ("old") peer's address may be replaced by a new announcement.
	numRetries = 3

	// maxFailures failures with no success in minBadDays days make a new
	// address bad.
	maxFailures = 10
	minBadDays  = 7

	// getSelectionPercent of the book, at least minGetSelection and at most
	// maxGetSelection addresses, answer a PEX request.
	getSelectionPercent = 23
	minGetSelection     = 32
	maxGetSelection     = 250

	// maxBans bounds the ban list; beyond it the bans ending first are
	// dropped.
	maxBans = 4096

	// maxBookEntries is what the tables can hold; a file is not loaded past it.
	maxBookEntries = newBucketCount*newBucketSize + oldBucketCount*oldBucketSize
)
