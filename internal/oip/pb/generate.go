// Package pb holds the Open Inference Protocol v2 gRPC definition
// (service.proto and the message files it imports) and the Go code that
// protoc generates from it: the messages and the client and server stubs of
// inference.GRPCInferenceService.
package pb

//go:generate sh generate.sh
