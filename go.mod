module github.com/inference-pio/piobench

go 1.26.8
