package oip

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/mlservice/mlservice/internal/oip/pb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// Options configure the gRPC server; the zero value is usable.
type Options struct {
	// Name and Version answer ServerMetadata; "" sends "mlservice" and "".
	Name, Version string
	// MaxRows is the batch limit: a request with more rows is refused
	// with INVALID_ARGUMENT. 0 means no limit.
	MaxRows int
	// MaxMessageBytes is the largest request message accepted; a larger
	// one is refused by gRPC with RESOURCE_EXHAUSTED. 0 means 4 MiB.
	MaxMessageBytes int
	// HealthPoll is how often a grpc.health.v1 Watch stream rechecks
	// readiness. 0 means one second.
	HealthPoll time.Duration
	// Logger receives a call that panicked; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultMaxMessageBytes is the request size limit when Options leave it 0.
const DefaultMaxMessageBytes = 4 << 20

// NewGRPCServer returns a gRPC server with GRPCInferenceService and
// grpc.health.v1 registered over b; opts adds server options (TLS,
// interceptors). The caller runs it with Serve and stops it with
// GracefulStop.
func NewGRPCServer(b Backend, o Options, opts ...grpc.ServerOption) *grpc.Server {
	max := o.MaxMessageBytes
	if max <= 0 {
		max = DefaultMaxMessageBytes
	}
	svc := NewService(b, o)
	s := grpc.NewServer(append([]grpc.ServerOption{grpc.MaxRecvMsgSize(max), grpc.ChainUnaryInterceptor(svc.recoverPanic)}, opts...)...)
	pb.RegisterGRPCInferenceServiceServer(s, svc)
	healthpb.RegisterHealthServer(s, svc.Health())
	return s
}

// recoverPanic turns a panic in a call into INTERNAL for that call: gRPC,
// unlike net/http, would let it end the process.
func (s *Service) recoverPanic(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.opts.Logger.ErrorContext(ctx, "grpc call panicked", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
			resp, err = nil, status.Errorf(codes.Internal, "internal error in %s", info.FullMethod)
		}
	}()
	return handler(ctx, req)
}

// Service implements GRPCInferenceService over a Backend.
type Service struct {
	pb.UnimplementedGRPCInferenceServiceServer
	backend Backend
	opts    Options
}

var _ pb.GRPCInferenceServiceServer = (*Service)(nil)

// NewService returns the inference service over b.
func NewService(b Backend, o Options) *Service {
	if o.Name == "" {
		o.Name = "mlservice"
	}
	if o.HealthPoll <= 0 {
		o.HealthPoll = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Service{backend: b, opts: o}
}

func grpcError(err error) error {
	return status.Error(Code(err), err.Error())
}

// ServerLive answers true while the process serves.
func (s *Service) ServerLive(context.Context, *pb.ServerLiveRequest) (*pb.ServerLiveResponse, error) {
	return &pb.ServerLiveResponse{Live: true}, nil
}

// ServerReady answers Backend.Ready.
func (s *Service) ServerReady(context.Context, *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error) {
	return &pb.ServerReadyResponse{Ready: s.backend.Ready()}, nil
}

// ModelReady answers whether the model (and version) can predict: false
// for one not ready, NOT_FOUND for one that does not exist.
func (s *Service) ModelReady(ctx context.Context, req *pb.ModelReadyRequest) (*pb.ModelReadyResponse, error) {
	_, err := s.backend.Model(ctx, req.GetName(), req.GetVersion())
	switch Code(err) {
	case codes.OK:
		return &pb.ModelReadyResponse{Ready: true}, nil
	case codes.Unavailable:
		return &pb.ModelReadyResponse{Ready: false}, nil
	}
	return nil, grpcError(err)
}

// ServerMetadata answers the server's name, version and extensions.
func (s *Service) ServerMetadata(context.Context, *pb.ServerMetadataRequest) (*pb.ServerMetadataResponse, error) {
	return &pb.ServerMetadataResponse{Name: s.opts.Name, Version: s.opts.Version, Extensions: []string{}}, nil
}

// ModelMetadata answers NewModelMetadata for the model.
func (s *Service) ModelMetadata(ctx context.Context, req *pb.ModelMetadataRequest) (*pb.ModelMetadataResponse, error) {
	m, err := s.backend.Model(ctx, req.GetName(), req.GetVersion())
	if err != nil {
		return nil, grpcError(err)
	}
	md := NewModelMetadata(metadataInfo(ctx, m))
	resp := &pb.ModelMetadataResponse{Name: md.Name, Versions: md.Versions, Platform: md.Platform}
	for _, t := range md.Inputs {
		resp.Inputs = append(resp.Inputs, &pb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape})
	}
	for _, t := range md.Outputs {
		resp.Outputs = append(resp.Outputs, &pb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape})
	}
	return resp, nil
}

// ModelInfer decodes the request under the model's features, predicts
// its rows and answers the outputs asked for.
func (s *Service) ModelInfer(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	m, err := s.backend.Model(ctx, req.GetModelName(), req.GetModelVersion())
	if err != nil {
		return nil, grpcError(err)
	}
	info := m.Info()
	table, r, err := DecodeInferRequest(req, info.Features, DecodeOptions{MaxRows: s.opts.MaxRows})
	if err != nil {
		return nil, grpcError(err)
	}
	probs := make([]float64, table.Rows)
	labels := make([]int64, table.Rows)
	if err := m.Predict(ctx, table, probs, labels); err != nil {
		return nil, grpcError(err)
	}
	return NewInferResponse(info.Name, info.Version, r, probs, labels), nil
}

// Health returns the grpc.health.v1 service over the same Backend: the
// server as a whole ("") and GRPCInferenceService are SERVING while
// Backend.Ready, NOT_SERVING otherwise.
func (s *Service) Health() healthpb.HealthServer { return &health{s: s} }

type health struct {
	healthpb.UnimplementedHealthServer
	s *Service
}

func (h *health) status(service string) (healthpb.HealthCheckResponse_ServingStatus, bool) {
	switch service {
	case "", pb.GRPCInferenceService_ServiceDesc.ServiceName:
		if h.s.backend.Ready() {
			return healthpb.HealthCheckResponse_SERVING, true
		}
		return healthpb.HealthCheckResponse_NOT_SERVING, true
	}
	return healthpb.HealthCheckResponse_SERVICE_UNKNOWN, false
}

func (h *health) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	st, known := h.status(req.GetService())
	if !known {
		return nil, status.Errorf(codes.NotFound, "unknown service %q", req.GetService())
	}
	return &healthpb.HealthCheckResponse{Status: st}, nil
}

func (h *health) List(context.Context, *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	out := &healthpb.HealthListResponse{Statuses: map[string]*healthpb.HealthCheckResponse{}}
	for _, name := range []string{"", pb.GRPCInferenceService_ServiceDesc.ServiceName} {
		st, _ := h.status(name)
		out.Statuses[name] = &healthpb.HealthCheckResponse{Status: st}
	}
	return out, nil
}

// Watch sends the status now and again whenever it changes, checking
// every HealthPoll until the client goes away.
func (h *health) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	tick := time.NewTicker(h.s.opts.HealthPoll)
	defer tick.Stop()
	last := healthpb.HealthCheckResponse_ServingStatus(-1)
	for {
		if st, _ := h.status(req.GetService()); st != last {
			if err := stream.Send(&healthpb.HealthCheckResponse{Status: st}); err != nil {
				return err
			}
			last = st
		}
		select {
		case <-stream.Context().Done():
			return status.FromContextError(stream.Context().Err()).Err()
		case <-tick.C:
		}
	}
}
