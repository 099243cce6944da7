package testkit

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
)

// Header is the built-in contract's CSV header.
const Header = "age,income,account_balance,transactions_last_30d,is_premium,target\n"

var csvCache struct {
	sync.Mutex
	files map[int][]byte
}

// CSV returns a file of n rows of the built-in contract, CSVRows(n, 1),
// generated once per test process for each n and shared: do not modify it.
func CSV(n int) []byte {
	csvCache.Lock()
	defer csvCache.Unlock()
	if data, ok := csvCache.files[n]; ok {
		return data
	}
	if csvCache.files == nil {
		csvCache.files = map[int][]byte{}
	}
	data := CSVRows(n, 1)
	csvCache.files[n] = data
	return data
}

// CSVRows writes a header and n rows shaped like data/day_01.csv from a
// stream seeded with seed: age 18–90, log-normal income with cents, a
// balance of about 12% of income that is negative for a fifth of the rows,
// Poisson-like transactions, about a third premium, and a target drawn
// from a logistic model of those, about 35% ones.
func CSVRows(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0xc5f))
	buf := bytes.NewBuffer(make([]byte, 0, 28*n+80))
	buf.WriteString(Header)
	var line []byte
	for range n {
		age := min(max(math.Round(42+14*r.NormFloat64()), 18), 90)
		income := math.Round(math.Exp(math.Log(50000)+0.5*r.NormFloat64())*100) / 100
		balance := math.Round((0.12*income+7000*r.NormFloat64())*100) / 100
		tx := max(math.Round(15+4*r.NormFloat64()), 0)
		premium := 0.0
		if r.Float64() < 0.33 {
			premium = 1
		}
		z := -0.8 + 0.6*(age-45)/15 + (math.Log(income)-math.Log(50000))/0.55 + 0.7*balance/10000 - 0.9*(tx-15)/4 + 0.8*premium
		target := 0
		if r.Float64() < 1/(1+math.Exp(-z)) {
			target = 1
		}
		line = strconv.AppendFloat(line[:0], age, 'f', -1, 64)
		line = append(line, ',')
		line = strconv.AppendFloat(line, income, 'f', 2, 64)
		line = append(line, ',')
		line = strconv.AppendFloat(line, balance, 'f', 2, 64)
		line = append(line, ',')
		line = strconv.AppendFloat(line, tx, 'f', -1, 64)
		line = append(line, ',', '0'+byte(premium), ',', '0'+byte(target), '\n')
		buf.Write(line)
	}
	return buf.Bytes()
}

// Repeat returns csv (a header line and rows) with its rows repeated until
// the whole is at least size bytes.
func Repeat(csv []byte, size int) []byte {
	body := csv[bytes.IndexByte(csv, '\n')+1:]
	out := append([]byte(nil), csv...)
	for len(out) < size && len(body) > 0 {
		out = append(out, body...)
	}
	return out
}
