package fake_test

import (
	"testing"
	"time"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/fake"
	"github.com/inference-pio/piobench/model/modeltest"
)

func TestConformance(t *testing.T) {
	modeltest.Run(t, func(t *testing.T) model.Model {
		return fake.New(fake.NewClock(), time.Second, time.Millisecond, 10*time.Millisecond)
	}, modeltest.Options{ExactLength: true})
}

func TestConformanceBatcher(t *testing.T) {
	modeltest.Run(t, func(t *testing.T) model.Model {
		return fake.Batcher{Model: fake.New(fake.NewClock(), time.Second, time.Millisecond, 10*time.Millisecond)}
	}, modeltest.Options{ExactLength: true})
}
