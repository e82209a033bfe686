# casebridge production image: the api and worker commands, built without the
# embedded Temporal server that only `casebridge dev` needs (tag nodev).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -tags nodev -trimpath -ldflags="-s -w" -o /out/casebridge ./cmd/casebridge

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/casebridge /casebridge
USER nonroot
EXPOSE 8080
ENTRYPOINT ["/casebridge"]
CMD ["api"]
