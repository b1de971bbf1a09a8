/// "Did you mean …?" for misspelt keys and enum values.
///
/// A typo in an optional key would otherwise be rejected only as "unknown", leaving the operator to
/// spot `balnce` by eye; within two edits the intended word is almost always the nearest one.
enum Spelling {
    /// The closest candidate within two edits, ignoring case; ties go to the earlier candidate.
    ///
    /// Short words get only one edit: two edits turn `foo` into `pool`, and a wrong guess is worse
    /// than none.
    static func suggestion(for word: String, among candidates: [String]) -> String? {
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let allowed = candidate.count <= 5 ? 1 : 2
            let distance = editDistance(word.lowercased(), candidate.lowercased())
            if distance <= allowed, distance < (best?.distance ?? .max) {
                best = (candidate, distance)
            }
        }
        return best?.candidate
    }

    /// Edit distance counting insertion, deletion, substitution and swapping two neighbours as one
    /// edit each (optimal string alignment), over Unicode scalars. Swaps count once because `nmae`
    /// is as likely a typo as `nme`.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars)
        let b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        // distances[i][j]: edits turning the first i scalars of a into the first j of b.
        var distances = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { distances[i][0] = i }
        for j in 0...b.count { distances[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var best = min(distances[i - 1][j] + 1, distances[i][j - 1] + 1, distances[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    best = min(best, distances[i - 2][j - 2] + 1)
                }
                distances[i][j] = best
            }
        }
        return distances[a.count][b.count]
    }
}
