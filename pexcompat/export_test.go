package pexcompat

// DecodedSize exposes decodedSize to the external tests.
var DecodedSize = decodedSize
