// Package strictjson decodes untrusted JSON the way the contract demands
// (§2, §6.2): exactly one UTF-8 JSON value, no duplicate member names
// anywhere, member names matched case-sensitively against the target type,
// bounded array lengths, and errors that name the offending field by its
// dot path. encoding/json alone matches names case-insensitively and keeps
// the last of duplicate members, which would let "Name" or a second "name"
// slip past validation.
package strictjson
